# Iteration 1 runs once for the methods that explore alike (explore_dir).
rule explore:
    input:
        code=stage_script("explore.py"),
        policy=policy_for,
        tasks=layout.TRAIN,
        assets=layout.ASSETS,
    output:
        explore=layout.EXPLORE,
    log:
        layout.log("explore"),
    benchmark:
        layout.benchmark("explore")
    conda:
        "../workflow-envs/ipr.yaml"
    resources:
        gpu=gpus("explore"),
    params:
        python=config["explore"]["python"],
        num_shards=num_shards("explore"),
        settings=settings_for("explore"),
        library=library_code("explore.py"),
    shell:
        "{params.python} {input.code} --benchmark {wildcards.benchmark} --policy {input.policy}"
        " --tasks {input.tasks} --assets {input.assets}"
        " --shard {wildcards.shard} --num-shards {params.num_shards}"
        " --settings '{params.settings}' --out {output.explore} > {log} 2>&1"
