"""The drift statistics' reference definitions in numpy, shared by the
fixture, benchmark and e2e check scripts: PSI on the reference's decile
bins (numpy.quantile, linear) with open tails (numpy.searchsorted,
side='right'), an empty bin's proportion taken as EPSILON."""

import numpy as np

EPSILON = 1e-4


def decile_edges(reference):
    return np.quantile(reference, np.arange(1, 10) / 10.0)


def bin_counts(edges, values):
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)


def psi(ref_counts, cur_counts):
    r = ref_counts / ref_counts.sum()
    c = cur_counts / cur_counts.sum()
    r = np.where(r == 0, EPSILON, r)
    c = np.where(c == 0, EPSILON, c)
    return float(np.sum((c - r) * np.log(c / r)))
