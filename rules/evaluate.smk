# {run} is "sft" or "<method>/iter<k>": one rule evaluates every policy.


rule evaluate:
    input:
        policy="results/{benchmark}/{model}/{run}/policy",
        tasks=eval_tasks,
        assets="results/{benchmark}/data/assets",
    output:
        eval="results/{benchmark}/{model}/{run}/eval/{split}/{shard}.jsonl",
    log:
        "logs/{benchmark}/{model}/{run}/eval/{split}/{shard}.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/{run}/eval/{split}/{shard}.tsv"
    conda:
        "../envs/ipr.yaml"
    resources:
        gpu=gpus("evaluate"),
    params:
        python=config["evaluate"]["python"],
        num_shards=num_shards("evaluate"),
        settings=settings_for("evaluate"),
    shell:
        "{params.python} scripts/evaluate.py --benchmark {wildcards.benchmark} --policy {input.policy}"
        " --tasks {input.tasks} --assets {input.assets}"
        " --shard {wildcards.shard} --num-shards {params.num_shards}"
        " --settings '{params.settings}' --out {output.eval} > {log} 2>&1"


rule gather_eval:
    input:
        shards=eval_shards,
    output:
        eval="results/{benchmark}/{model}/{run}/eval/{split}.jsonl",
        summary="results/{benchmark}/{model}/{run}/eval/{split}.summary.json",
    log:
        "logs/{benchmark}/{model}/{run}/eval/gather_{split}.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/{run}/eval/gather_{split}.tsv"
    conda:
        "../envs/ipr.yaml"
    shell:
        "python scripts/gather_eval.py --out {output.eval} --summary {output.summary}"
        " {input.shards} > {log} 2>&1"
