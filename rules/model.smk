rule build_model:
    input:
        code=stage_script("build_model.py"),
        corpus=corpus_files,
        template=model_chat_template,
    output:
        model=directory("results/models/{model}"),
    log:
        "logs/models/{model}/build_model.log",
    benchmark:
        "benchmarks/models/{model}/build_model.tsv"
    wildcard_constraints:
        model=alternation(BUILT_MODELS),
    conda:
        "../envs/ipr.yaml"
    threads: 2
    params:
        settings=settings_for("build_model"),
    shell:
        "python {input.code} --model {wildcards.model} --settings '{params.settings}'"
        " --corpus {input.corpus} --chat-template {input.template:q} --out {output.model} > {log} 2>&1"


rule link_model:
    input:
        code=stage_script("link_model.py"),
        template=model_chat_template,
    output:
        model=directory("results/models/{model}"),
    log:
        "logs/models/{model}/link_model.log",
    benchmark:
        "benchmarks/models/{model}/link_model.tsv"
    wildcard_constraints:
        model=alternation(LINKED_MODELS),
    conda:
        "../envs/ipr.yaml"
    params:
        source=linked_model_source,
        template=chat_template_option,
    shell:
        "python {input.code} --model {wildcards.model} {params.source}"
        " {params.template} --out {output.model} > {log} 2>&1"


rule fetch_gguf_model:
    input:
        code=stage_script("fetch_gguf_model.py"),
        template=model_chat_template,
    output:
        model=directory("results/models/{model}"),
    log:
        "logs/models/{model}/fetch_gguf_model.log",
    benchmark:
        "benchmarks/models/{model}/fetch_gguf_model.tsv"
    wildcard_constraints:
        model=alternation(GGUF_MODELS),
    conda:
        "../envs/ipr.yaml"
    threads: 2
    params:
        source=gguf_model_source,
    shell:
        "python {input.code} --model {wildcards.model} {params.source}"
        " --chat-template {input.template:q} --out {output.model} > {log} 2>&1"
