rule build_pairs:
    input:
        tasks="results/{benchmark}/data/train.jsonl",
        explore=explore_shards,
        scores=score_shards,
        expert_scores=expert_scores_for,
    output:
        pairs="results/{benchmark}/{model}/{method}/iter{iter}/pairs.jsonl",
    log:
        "logs/{benchmark}/{model}/{method}/iter{iter}/build_pairs.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/{method}/iter{iter}/build_pairs.tsv"
    conda:
        "../envs/ipr.yaml"
    params:
        settings=settings_for("build_pairs"),
    shell:
        "python scripts/build_pairs.py --benchmark {wildcards.benchmark} --tasks {input.tasks}"
        " --explore {input.explore} --scores {input.scores}"
        " --expert-scores {input.expert_scores}"
        " --settings '{params.settings}' --out {output.pairs} > {log} 2>&1"
