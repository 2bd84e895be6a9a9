"""Fleet scans: every image of a registry (or a list), audited on a Dask cluster.

catalog.py lists what to scan (references, a file, a registry's catalog and tags);
tasks.py holds the functions that run on the workers (resolve, index one layer,
audit one image); engine.py submits them to Dask so that every distinct layer is
indexed once and each image runs where its biggest layers already are; runs.py keeps
the fleet runs in the history store; summary.py and view.py build and render the
fleet summary.
"""
