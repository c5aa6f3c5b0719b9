rule build_pairs:
    input:
        code=stage_script("build_pairs.py"),
        tasks="results/{benchmark}/data/train.jsonl",
        explore=explore_shards,
        scores=score_shards,
        expert_scores=pair_expert_scores,
    output:
        pairs="results/{benchmark}/{model}/{method}/iter{iter}/pairs.jsonl",
    log:
        "logs/{benchmark}/{model}/{method}/iter{iter}/build_pairs.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/{method}/iter{iter}/build_pairs.tsv"
    conda:
        "../envs/ipr.yaml"
    params:
        scores=pair_score_options,
        settings=settings_for("build_pairs"),
    shell:
        "python {input.code} --benchmark {wildcards.benchmark} --tasks {input.tasks}"
        " --explore {input.explore} {params.scores}"
        " --settings '{params.settings}' --out {output.pairs} > {log} 2>&1"
