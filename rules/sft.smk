rule sft:
    input:
        code=stage_script("sft.py"),
        model=base_model_dir,
        train=layout.TRAIN,
    output:
        policy=directory(layout.SFT_POLICY),
    log:
        layout.log("sft"),
    benchmark:
        layout.benchmark("sft")
    conda:
        "../workflow-envs/ipr.yaml"
    threads: 2
    resources:
        gpu=gpus("sft"),
    params:
        settings=settings_for("sft"),
        processes=processes_for("sft"),
        library=library_code("sft.py", "../ipr/training/launch.py"),
    shell:
        "python -m ipr.training.launch --nproc-per-node {params.processes} {input.code} --benchmark {wildcards.benchmark} --model-dir {input.model}"
        " --train {input.train} --settings '{params.settings}' --out {output.policy} > {log} 2>&1"
