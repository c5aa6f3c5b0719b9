rule prepare_data:
    input:
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
        "python scripts/prepare_data.py --benchmark {wildcards.benchmark}"
        " --settings '{params.settings}' --out-dir {params.out_dir} > {log} 2>&1"
