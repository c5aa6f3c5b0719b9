rule score_expert:
    input:
        code=stage_script("score_expert.py"),
        scorer="results/{benchmark}/{model}/sft/policy",
        tasks="results/{benchmark}/data/train.jsonl",
        assets="results/{benchmark}/data/assets",
    output:
        scores="results/{benchmark}/{model}/expert_scores/{shard}.jsonl",
    log:
        "logs/{benchmark}/{model}/expert_scores/{shard}.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/expert_scores/{shard}.tsv"
    conda:
        "../envs/ipr.yaml"
    resources:
        gpu=gpus("score_expert"),
    params:
        python=config["score"]["python"],
        num_shards=num_shards("score"),
        settings=settings_for("score_expert"),
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
        scores="results/{benchmark}/{model}/expert_scores.jsonl",
    log:
        "logs/{benchmark}/{model}/gather_expert_scores.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/gather_expert_scores.tsv"
    conda:
        "../envs/ipr.yaml"
    shell:
        "python {input.code} --kind score --out {output.scores} {input.shards}" " > {log} 2>&1"


# The method's scorer (scorer_of): MC rollouts of the SFT policy, or the learned reward model.
# Iteration 1 is scored once for the methods that share it (scores_dir), from the shared exploration.
rule score:
    input:
        code=score_script,
        scorer=score_scorer,
        tasks="results/{benchmark}/data/train.jsonl",
        assets="results/{benchmark}/data/assets",
        explore=score_explore_shard,
        known=score_known,
    output:
        scores="results/{benchmark}/{model}/{method}/iter{iter}/scores/{shard}.jsonl",
    log:
        "logs/{benchmark}/{model}/{method}/iter{iter}/scores/{shard}.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/{method}/iter{iter}/scores/{shard}.tsv"
    conda:
        "../envs/ipr.yaml"
    resources:
        gpu=gpus("score"),
    params:
        python=config["score"]["python"],
        settings=settings_for("score"),
        known=lambda wildcards, input: " ".join(["--known", *input.known]) if input.known else "",
    shell:
        "{params.python} {input.code} --benchmark {wildcards.benchmark} --scorer {input.scorer}"
        " --tasks {input.tasks} --assets {input.assets} --explore {input.explore}"
        " {params.known} --settings '{params.settings}' --out {output.scores} > {log} 2>&1"
