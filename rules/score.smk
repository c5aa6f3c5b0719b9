rule score_expert:
    input:
        code=stage_script("score_expert.py"),
        scorer=layout.SFT_POLICY,
        tasks=layout.TRAIN,
        assets=layout.ASSETS,
    output:
        scores=layout.EXPERT_SCORES_SHARD,
    log:
        layout.log("score_expert"),
    benchmark:
        layout.benchmark("score_expert")
    conda:
        "../workflow-envs/ipr.yaml"
    resources:
        gpu=gpus("score_expert"),
    params:
        python=config["score"]["python"],
        num_shards=num_shards("score"),
        settings=settings_for("score_expert"),
        library=library_code("score_expert.py"),
    shell:
        "{params.python} {input.code} --benchmark {wildcards.benchmark} --scorer {input.scorer}"
        " --tasks {input.tasks} --assets {input.assets}"
        " --shard {wildcards.shard} --num-shards {params.num_shards}"
        " --settings '{params.settings}' --out {output.scores} > {log} 2>&1"


rule gather_expert_scores:
    input:
        code=stage_script("gather_jsonl.py"),
        shards=score_expert_shards,
    output:
        scores=layout.EXPERT_SCORES,
    log:
        layout.log("gather_expert_scores"),
    benchmark:
        layout.benchmark("gather_expert_scores")
    conda:
        "../workflow-envs/ipr.yaml"
    params:
        library=library_code("gather_jsonl.py"),
    shell:
        "python {input.code} --kind score --out {output.scores} {input.shards}" " > {log} 2>&1"


# The method's scorer (scorer_of): MC rollouts of the SFT policy, or the learned reward model.
# Iteration 1 is scored once for the methods that share it (scores_dir), from the shared exploration.
rule score:
    input:
        code=score_script,
        scorer=score_scorer,
        tasks=layout.TRAIN,
        assets=layout.ASSETS,
        explore=score_explore_shard,
        known=score_known,
    output:
        scores=layout.SCORES,
    log:
        layout.log("score"),
    benchmark:
        layout.benchmark("score")
    conda:
        "../workflow-envs/ipr.yaml"
    resources:
        gpu=gpus("score"),
    params:
        python=config["score"]["python"],
        settings=settings_for("score"),
        library=library_code("score.py", "score_rm.py"),
        known=known_scores_option,
    shell:
        "{params.python} {input.code} --benchmark {wildcards.benchmark} --scorer {input.scorer}"
        " --tasks {input.tasks} --assets {input.assets} --explore {input.explore}"
        " {params.known} --settings '{params.settings}' --out {output.scores} > {log} 2>&1"
