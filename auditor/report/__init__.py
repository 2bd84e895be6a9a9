"""Reports: one module per output format, all rendered from one report object.

    model.py          the report dict (the JSON contract of design.md)
    catalog.py        the `checks` section and the lookups every renderer shares
    formats.py        OutputFormat: the Enum of formats and its exhaustive factory
    output.py         --format / -o / --github-annotations; atomic, all-or-nothing writes
    table.py json_format.py sarif.py junit.py markdown.py html_format.py   one per format
    svg.py            inline SVG charts for the HTML report
    github_annotations.py   ::error/::warning/::notice lines for GitHub Actions
    schema.py         the JSON Schema (auditor/schema/report-v1.schema.json) and validate()

No renderer computes anything about the image: they only lay out the report.
"""
