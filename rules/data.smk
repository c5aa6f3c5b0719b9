rule prepare_data:
    input:
        code=stage_script("prepare_data.py"),
        sources=data_sources,
    output:
        train="results/{benchmark}/data/train.jsonl",
        test="results/{benchmark}/data/test.jsonl",
        assets=directory("results/{benchmark}/data/assets"),
    log:
        "logs/{benchmark}/prepare_data.log",
    benchmark:
        "benchmarks/{benchmark}/prepare_data.tsv"
    conda:
        "../envs/ipr.yaml"
    params:
        out_dir=parent_dir,
        settings=settings_for("prepare_data"),
    shell:
        "python {input.code} --benchmark {wildcards.benchmark}"
        " --settings '{params.settings}' --out-dir {params.out_dir} > {log} 2>&1"


# Finer test splits (ALFWorld's test_seen, test_unseen) come out of test.jsonl by record split.
rule select_split:
    input:
        code=stage_script("select_split.py"),
        tasks="results/{benchmark}/data/test.jsonl",
    output:
        tasks="results/{benchmark}/data/{split}.jsonl",
    log:
        "logs/{benchmark}/select_split_{split}.log",
    benchmark:
        "benchmarks/{benchmark}/select_split_{split}.tsv"
    wildcard_constraints:
        split="test_[a-z]+",
    conda:
        "../envs/ipr.yaml"
    shell:
        "python {input.code} --tasks {input.tasks} --split {wildcards.split}"
        " --out {output.tasks} > {log} 2>&1"


# The validation split carved out of train (generate.valid_per_template, valid_fraction or valid_games):
# prepare_data leaves it in the assets, so a benchmark without one keeps its outputs; this writes it
# where the other splits are, for evaluation (evaluate.splits or the benchmark's eval_splits: valid).
rule validation_split:
    input:
        code=stage_script("select_split.py"),
        assets="results/{benchmark}/data/assets",
    output:
        tasks="results/{benchmark}/data/valid.jsonl",
    log:
        "logs/{benchmark}/validation_split.log",
    benchmark:
        "benchmarks/{benchmark}/validation_split.tsv"
    conda:
        "../envs/ipr.yaml"
    shell:
        "python {input.code} --tasks {input.assets}/splits/valid.jsonl --split valid"
        " --out {output.tasks} > {log} 2>&1"
