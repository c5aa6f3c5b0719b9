localrules:
    report,


rule report:
    input:
        evals=all_eval_summaries(),
        pairs=all_pairs(),
    output:
        md="results/tables/main.md",
        csv="results/tables/main.csv",
        rewards="results/figures/rewards.png",
    log:
        "logs/report.log",
    benchmark:
        "benchmarks/report.tsv"
    conda:
        "../envs/ipr.yaml"
    params:
        tables=tables_dir,
        figures=figures_dir,
    shell:
        "python scripts/report.py --evals {input.evals} --pairs {input.pairs}"
        " --out-dir {params.tables} --figures {params.figures} > {log} 2>&1"
