# {run} is "sft" or "<method>/iter<k>": one rule evaluates every policy.


rule evaluate:
    input:
        code=stage_script("evaluate.py"),
        policy=layout.RUN_POLICY,
        tasks=eval_tasks,
        assets=layout.ASSETS,
    output:
        eval=layout.EVAL_SHARD,
    log:
        layout.log("evaluate"),
    benchmark:
        layout.benchmark("evaluate")
    conda:
        "../workflow-envs/ipr.yaml"
    resources:
        gpu=gpus("evaluate"),
    params:
        python=config["evaluate"]["python"],
        num_shards=num_shards("evaluate"),
        settings=settings_for("evaluate"),
        library=library_code("evaluate.py"),
    shell:
        "{params.python} {input.code} --benchmark {wildcards.benchmark} --policy {input.policy}"
        " --tasks {input.tasks} --assets {input.assets}"
        " --shard {wildcards.shard} --num-shards {params.num_shards}"
        " --settings '{params.settings}' --out {output.eval} > {log} 2>&1"


rule gather_eval:
    input:
        code=stage_script("gather_eval.py"),
        shards=eval_shards,
    output:
        eval=layout.EVAL,
        summary=layout.EVAL_SUMMARY,
    log:
        layout.log("gather_eval"),
    benchmark:
        layout.benchmark("gather_eval")
    conda:
        "../workflow-envs/ipr.yaml"
    params:
        library=library_code("gather_eval.py"),
    shell:
        "python {input.code} --out {output.eval} --summary {output.summary}"
        " {input.shards} > {log} 2>&1"


# Figure 4: MC step rewards (the SFT scorer) along the agent's own test trajectories.
rule score_eval:
    input:
        code=stage_script("score_expert.py"),
        scorer=layout.SFT_POLICY,
        trajectories=layout.EVAL,
        assets=layout.ASSETS,
    output:
        scores=layout.EVAL_STEP_REWARDS,
    log:
        layout.log("score_eval"),
    benchmark:
        layout.benchmark("score_eval")
    conda:
        "../workflow-envs/ipr.yaml"
    resources:
        gpu=gpus("score"),
    params:
        python=config["score"]["python"],
        tasks=config["report"]["step_rewards"]["tasks"],
        settings=settings_for("score_eval"),
        library=library_code("score_expert.py"),
    shell:
        "{params.python} {input.code} --benchmark {wildcards.benchmark} --scorer {input.scorer}"
        " --tasks {input.trajectories} --assets {input.assets} --max-tasks {params.tasks}"
        " --settings '{params.settings}' --out {output.scores} > {log} 2>&1"
