rule sft:
    input:
        code=stage_script("sft.py"),
        model=base_model_dir,
        train="results/{benchmark}/data/train.jsonl",
    output:
        policy=directory("results/{benchmark}/{model}/sft/policy"),
    log:
        "logs/{benchmark}/{model}/sft/sft.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/sft/sft.tsv"
    conda:
        "../envs/ipr.yaml"
    threads: 2
    resources:
        gpu=gpus("sft"),
    params:
        settings=settings_for("sft"),
        processes=processes_for("sft"),
    shell:
        "python -m ipr.launch --nproc-per-node {params.processes} {input.code} --benchmark {wildcards.benchmark} --model-dir {input.model}"
        " --train {input.train} --settings '{params.settings}' --out {output.policy} > {log} 2>&1"
