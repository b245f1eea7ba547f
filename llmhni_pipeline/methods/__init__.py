"""Training methods, one file each, named after the method; the registry maps names to them.

Every method is a delta over BPR on a backbone (``lightgcn``); ``recipe.train`` trains any of them from a
``RunSpec``. ``get_method`` fails on an unknown name listing the known ones.
"""

from __future__ import annotations

from llmhni_pipeline.methods import (
    bod,
    lightgcn,
    llard_graph,
    llmhni,
    rlmrec_con,
    sgl,
    simgcl,
    tce,
    wbpr,
    xsimgcl,
)
from llmhni_pipeline.methods.base import Method, MethodInputs, MethodUnavailable

METHODS: dict[str, Method] = {
    m.METHOD.name: m.METHOD
    for m in (lightgcn, wbpr, tce, bod, sgl, simgcl, xsimgcl, rlmrec_con, llard_graph, llmhni)
}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known methods: {', '.join(METHODS)}") from None


__all__ = ["METHODS", "Method", "MethodInputs", "MethodUnavailable", "get_method"]
