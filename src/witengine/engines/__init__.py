"""Other engines behind witengine's seams: a Dask cluster as an `Executor`."""
