rule build_pairs:
    input:
        code=stage_script("build_pairs.py"),
        tasks=layout.TRAIN,
        explore=explore_shards,
        scores=score_shards,
        expert_scores=pair_expert_scores,
    output:
        pairs=layout.PAIRS,
    log:
        layout.log("build_pairs"),
    benchmark:
        layout.benchmark("build_pairs")
    conda:
        "../workflow-envs/ipr.yaml"
    params:
        scores=pair_score_options,
        settings=settings_for("build_pairs"),
        library=library_code("build_pairs.py"),
    shell:
        "python {input.code} --benchmark {wildcards.benchmark} --tasks {input.tasks}"
        " --explore {input.explore} {params.scores}"
        " --settings '{params.settings}' --out {output.pairs} > {log} 2>&1"
