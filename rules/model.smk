rule build_model:
    input:
        code=stage_script("build_model.py"),
        corpus=corpus_files,
        template=model_chat_template,
    output:
        model=directory(layout.MODEL),
    log:
        layout.log("build_model"),
    benchmark:
        layout.benchmark("build_model")
    wildcard_constraints:
        model=alternation(BUILT_MODELS),
    conda:
        "../workflow-envs/ipr.yaml"
    threads: 2
    params:
        settings=settings_for("build_model"),
        library=library_code("build_model.py"),
    shell:
        "python {input.code} --model {wildcards.model} --settings '{params.settings}'"
        " --corpus {input.corpus} --chat-template {input.template:q} --out {output.model} > {log} 2>&1"


rule link_model:
    input:
        code=stage_script("link_model.py"),
        template=model_chat_template,
    output:
        model=directory(layout.MODEL),
    log:
        layout.log("link_model"),
    benchmark:
        layout.benchmark("link_model")
    wildcard_constraints:
        model=alternation(LINKED_MODELS),
    conda:
        "../workflow-envs/ipr.yaml"
    params:
        source=linked_model_source,
        template=chat_template_option,
        library=library_code("link_model.py"),
    shell:
        "python {input.code} --model {wildcards.model} {params.source}"
        " {params.template} --out {output.model} > {log} 2>&1"


rule fetch_gguf_model:
    input:
        code=stage_script("fetch_gguf_model.py"),
        template=model_chat_template,
    output:
        model=directory(layout.MODEL),
    log:
        layout.log("fetch_gguf_model"),
    benchmark:
        layout.benchmark("fetch_gguf_model")
    wildcard_constraints:
        model=alternation(GGUF_MODELS),
    conda:
        "../workflow-envs/ipr.yaml"
    threads: 2
    params:
        source=gguf_model_source,
        library=library_code("fetch_gguf_model.py"),
    shell:
        "python {input.code} --model {wildcards.model} {params.source}"
        " --chat-template {input.template:q} --out {output.model} > {log} 2>&1"
