rule prepare_data:
    input:
        code=stage_script("prepare_data.py"),
        sources=data_sources,
    output:
        train=layout.TRAIN,
        test=layout.TEST,
        assets=directory(layout.ASSETS),
    log:
        layout.log("prepare_data"),
    benchmark:
        layout.benchmark("prepare_data")
    conda:
        "../workflow-envs/ipr.yaml"
    params:
        out_dir=parent_dir,
        settings=settings_for("prepare_data"),
        library=library_code("prepare_data.py"),
    shell:
        "python {input.code} --benchmark {wildcards.benchmark}"
        " --settings '{params.settings}' --out-dir {params.out_dir} > {log} 2>&1"


# Finer test splits (ALFWorld's test_seen, test_unseen) come out of test.jsonl by record split.
rule select_split:
    input:
        code=stage_script("select_split.py"),
        tasks=layout.TEST,
    output:
        tasks=layout.DATA,
    log:
        layout.log("select_split"),
    benchmark:
        layout.benchmark("select_split")
    wildcard_constraints:
        split="test_[a-z]+",
    conda:
        "../workflow-envs/ipr.yaml"
    params:
        library=library_code("select_split.py"),
    shell:
        "python {input.code} --tasks {input.tasks} --split {wildcards.split}"
        " --out {output.tasks} > {log} 2>&1"


# The validation split carved out of train (generate.valid_per_template, valid_fraction or valid_games):
# prepare_data leaves it in the assets, so a benchmark without one keeps its outputs; this writes it
# where the other splits are, for evaluation (evaluate.splits or the benchmark's eval_splits: valid).
rule validation_split:
    input:
        code=stage_script("select_split.py"),
        assets=layout.ASSETS,
    output:
        tasks=layout.VALID,
    log:
        layout.log("validation_split"),
    benchmark:
        layout.benchmark("validation_split")
    conda:
        "../workflow-envs/ipr.yaml"
    params:
        library=library_code("select_split.py"),
    shell:
        "python {input.code} --tasks {input.assets}/splits/valid.jsonl --split valid"
        " --out {output.tasks} > {log} 2>&1"
