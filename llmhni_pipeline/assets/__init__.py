"""One module per pipeline stage, named after the asset it defines."""
