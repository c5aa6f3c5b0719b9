# Step rewards studied (paper section 5.5 and Fig. 3): a learned step reward model, the accuracy of
# MC step rewards against WebShop's page-level scores, and Table 5 (none vs RM vs MC).


rule step_reward_data:
    input:
        code=stage_script("step_reward_data.py"),
        tasks="results/{benchmark}/data/train.jsonl",
        scores=step_reward_score_files,
    output:
        data="results/{benchmark}/step_rewards.jsonl",
    log:
        "logs/{benchmark}/step_reward_data.log",
    benchmark:
        "benchmarks/{benchmark}/step_reward_data.tsv"
    conda:
        "../envs/ipr.yaml"
    params:
        settings=step_reward_settings("step_reward_data"),
    shell:
        "python {input.code} --benchmark {wildcards.benchmark} --tasks {input.tasks}"
        " --scores {input.scores} --settings '{params.settings}' --out {output.data} > {log} 2>&1"


rule train_reward_model:
    input:
        code=stage_script("train_reward_model.py"),
        base="results/{benchmark}/{model}/sft/policy",
        data="results/{benchmark}/step_rewards.jsonl",
    output:
        model=directory("results/{benchmark}/{model}/reward_model/model"),
    log:
        "logs/{benchmark}/{model}/train_reward_model.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/train_reward_model.tsv"
    conda:
        "../envs/ipr.yaml"
    threads: 2
    resources:
        gpu=gpus("train_reward_model"),
    params:
        settings=step_reward_settings("train_reward_model"),
        processes=config.get("reward_model", {}).get("processes", 0),
    shell:
        "python -m ipr.launch --nproc-per-node {params.processes} {input.code}"
        " --benchmark {wildcards.benchmark} --base {input.base} --data {input.data}"
        " --settings '{params.settings}' --out {output.model} > {log} 2>&1"


rule score_expert_rm:
    input:
        code=stage_script("score_rm.py"),
        scorer="results/{benchmark}/{model}/reward_model/model",
        tasks="results/{benchmark}/data/train.jsonl",
        assets="results/{benchmark}/data/assets",
    output:
        scores="results/{benchmark}/{model}/expert_scores.rm.jsonl",
    log:
        "logs/{benchmark}/{model}/score_expert_rm.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/score_expert_rm.tsv"
    conda:
        "../envs/ipr.yaml"
    resources:
        gpu=gpus("score"),
    params:
        settings=step_reward_settings("score_expert_rm"),
    shell:
        "python {input.code} --benchmark {wildcards.benchmark} --scorer {input.scorer}"
        " --tasks {input.tasks} --assets {input.assets}"
        " --settings '{params.settings}' --out {output.scores} > {log} 2>&1"


rule scorer_cost:
    input:
        code=stage_script("scorer_cost.py"),
        scorer="results/{benchmark}/{model}/sft/policy",
        reward_model="results/{benchmark}/{model}/reward_model/model",
        tasks="results/{benchmark}/data/train.jsonl",
        assets="results/{benchmark}/data/assets",
    output:
        cost="results/{benchmark}/{model}/reward_model/cost.json",
    log:
        "logs/{benchmark}/{model}/scorer_cost.log",
    benchmark:
        "benchmarks/{benchmark}/{model}/scorer_cost.tsv"
    conda:
        "../envs/ipr.yaml"
    resources:
        gpu=gpus("score"),
    params:
        settings=step_reward_settings("scorer_cost"),
        tasks_limit=config.get("reward_model", {}).get("cost_tasks", 8),
    shell:
        "python {input.code} --benchmark {wildcards.benchmark} --scorer {input.scorer}"
        " --reward-model {input.reward_model} --tasks {input.tasks} --assets {input.assets}"
        " --tasks-limit {params.tasks_limit} --settings '{params.settings}' --out {output.cost}"
        " > {log} 2>&1"


rule step_accuracy:
    input:
        code=stage_script("step_accuracy.py"),
        tasks="results/{benchmark}/data/train.jsonl",
        assets="results/{benchmark}/data/assets",
        scores=step_accuracy_inputs,
        library=library_code("step_accuracy.py"),
    output:
        md="results/tables/step_accuracy.{benchmark}.md",
        csv="results/tables/step_accuracy.{benchmark}.csv",
        figure="results/figures/step_accuracy.{benchmark}.png",
    log:
        "logs/{benchmark}/step_accuracy.log",
    benchmark:
        "benchmarks/{benchmark}/step_accuracy.tsv"
    conda:
        "../envs/ipr.yaml"
    params:
        settings=step_reward_settings("step_accuracy"),
        scorers=step_accuracy_scorers,
    shell:
        "python {input.code} --benchmark {wildcards.benchmark} --tasks {input.tasks}"
        " --assets {input.assets} {params.scorers} --settings '{params.settings}'"
        " --out-md {output.md} --out-csv {output.csv} --figure {output.figure} > {log} 2>&1"


localrules:
    step_reward_table,


rule step_reward_table:
    input:
        code=stage_script("step_reward_table.py"),
        evals=step_reward_evals(),
        reward_models=all_reward_models(),
        costs=all_scorer_costs(),
        library=library_code("step_reward_report.py"),
    output:
        md="results/tables/step_rewards.md",
        csv="results/tables/step_rewards.csv",
    log:
        "logs/step_reward_table.log",
    benchmark:
        "benchmarks/step_reward_table.tsv"
    conda:
        "../envs/ipr.yaml"
    shell:
        "python {input.code} --evals {input.evals} --rm-models {input.reward_models}"
        " --costs {input.costs} --out-md {output.md} --out-csv {output.csv} > {log} 2>&1"
