rule train:
    input:
        policy=policy_for,
        reference="results/{benchmark}/{model}/sft/policy",
        pairs="results/{benchmark}/{model}/{method}/iter{iter}/pairs.jsonl",
    output:
        policy=directory("results/{benchmark}/{model}/{method}/iter{iter}/policy"),
    log:
        "logs/{benchmark}/{model}/{method}/iter{iter}/train.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/{method}/iter{iter}/train.tsv"
    conda:
        "../envs/ipr.yaml"
    threads: 2
    resources:
        gpu=gpus("train"),
    params:
        settings=settings_for("train"),
    shell:
        "python scripts/train_mixed.py --benchmark {wildcards.benchmark} --policy {input.policy}"
        " --reference {input.reference} --pairs {input.pairs}"
        " --settings '{params.settings}' --out {output.policy} > {log} 2>&1"
