#!/usr/bin/python3
"""Writes tests/fixtures/neural/: small BrainIO-layout netCDF assemblies (and broken ones) plus the
responses a correct reader must produce, for tests/test_neural.c and the fuzz seed corpus.

Usage: /usr/bin/python3 tools/make_neural_fixtures.py [OUT_DIR [CORPUS_DIR]]
       (defaults tests/fixtures/neural and tests/fuzz/corpus: also writes the seed corpora of the fuzz
       targets neural_simple (2-byte table length, table, .npy) and neural_netcdf (region byte, file))
Needs Debian's python3-netcdf4 and python3-numpy (tools/setup --with-python).

The layout is what BrainIO's packaging writes (xarray's DataArray.to_netcdf after reset_index): one data
variable __xarray_dataarray_variable__ with dimensions presentation x neuroid x time_bin and
one-dimensional coordinates on each (stimulus_id, object_name, repetition on presentation; neuroid_id,
region on neuroid; time_bin_start, time_bin_end on time_bin), with the global attributes identifier and
stimulus_set_identifier. Written with the netCDF4 library (netCDF-4 / HDF5, as BrainIO does), and once as
classic netCDF-3 with character-array strings (the other string encoding a reader meets).

Files:
  assembly.nc          netCDF-4: 12 stimuli (3 objects), 3 repetitions (stimulus s3 lacks repetition 2),
                       5 neuroids (3 IT, 2 V4), 2 time bins; presentations in shuffled order
  assembly_classic.nc  the same data as netCDF-3 with char-array strings, a single time bin, dims in the
                       order neuroid x presentation x time_bin, and the older BrainIO names of the public
                       MajajHong2015 file: a named data variable and image_id
  expected_it.npy      float64 12 x 3: the IT responses averaged over time bins and recorded repetitions,
                       stimuli in order of first appearance in assembly.nc
  expected_trials.npy  float64 12 x 3 x 3: the IT trials (NaN: not recorded), same order
  expected_classic.npy float64 12 x 5: assembly_classic.nc's responses, every neuroid (region all)
  bad_*.nc             one defect each (named in the file name; bad_truncated*.nc are assembly_classic.nc
                       cut in half and assembly.nc cut to 3/4); the reader must refuse them
"""
import os
import sys

import netCDF4
import numpy as np

SEED = 20261124
N_STIM, N_REP, N_TIME = 12, 3, 2
REGIONS = ["IT", "V4", "IT", "IT", "V4"]
OBJECTS = ["bear", "car", "chair"]


def make_data(rng):
    """Presentations (stimulus, repetition) with one missing, shuffled; values per presentation."""
    pres = [(s, r) for s in range(N_STIM) for r in range(N_REP) if not (s == 3 and r == 2)]
    order = rng.permutation(len(pres))
    pres = [pres[i] for i in order]
    values = rng.standard_normal((len(pres), len(REGIONS), N_TIME)).astype(np.float32)
    return pres, values


def stim_id(s):
    return "img%02d_%s" % (s, "x" * (s % 3))  # ids of different lengths


def write_nc4(path, pres, values, drop=None, extra_dim=False, dup=False):
    ds = netCDF4.Dataset(path, "w", format="NETCDF4")
    ds.identifier = "tessl.fixture"
    ds.stimulus_set_identifier = "tessl.fixture.stimuli"
    ds.createDimension("presentation", len(pres))
    ds.createDimension("neuroid", len(REGIONS))
    ds.createDimension("time_bin", N_TIME)
    dims = ("presentation", "neuroid", "time_bin")
    data_values = values
    if extra_dim:
        ds.createDimension("channel", 2)
        dims = dims + ("channel",)
        data_values = np.stack([values, values], axis=-1)
    var = ds.createVariable("__xarray_dataarray_variable__", "f4", dims, fill_value=np.float32(np.nan))
    var[:] = data_values
    var.coordinates = "stimulus_id object_name repetition neuroid_id region time_bin_start time_bin_end"
    coords = {
        "stimulus_id": ("presentation", [stim_id(s) for s, _ in pres]),
        "object_name": ("presentation", [OBJECTS[s % 3] for s, _ in pres]),
        "neuroid_id": ("neuroid", ["n%d" % j for j in range(len(REGIONS))]),
        "region": ("neuroid", REGIONS),
    }
    reps = np.array([r for _, r in pres], dtype=np.int64)
    if dup:  # presentation 1 repeats presentation 0's (stimulus, repetition)
        reps[1] = reps[0]
        coords["stimulus_id"][1][1] = coords["stimulus_id"][1][0]
        coords["object_name"][1][1] = coords["object_name"][1][0]
    for name, (dim, strings) in coords.items():
        if name == drop:
            continue
        v = ds.createVariable(name, str, (dim,))
        v[:] = np.array(strings, dtype=object)
    if drop != "repetition":
        v = ds.createVariable("repetition", "i8", ("presentation",))
        v[:] = reps
    for name, vals in (("time_bin_start", [70, 120]), ("time_bin_end", [120, 170])):
        v = ds.createVariable(name, "i8", ("time_bin",))
        v[:] = np.array(vals, dtype=np.int64)
    ds.close()


def write_classic(path, pres, values):
    """netCDF-3, char-array strings, one time bin, dimensions neuroid x presentation x time_bin."""
    ds = netCDF4.Dataset(path, "w", format="NETCDF3_CLASSIC")
    ds.identifier = "tessl.fixture.classic"
    ds.stimulus_set_identifier = "tessl.fixture.stimuli"
    ds.createDimension("neuroid", len(REGIONS))
    ds.createDimension("presentation", len(pres))
    ds.createDimension("time_bin", 1)
    ds.createDimension("string8", 8)
    ds.createDimension("string5", 5)
    # Named, with image_id: the older BrainIO layout of assy_dicarlo_MajajHong2015_public.nc.
    var = ds.createVariable("dicarlo.tessl.fixture", "f4", ("neuroid", "presentation", "time_bin"))
    var[:] = values[:, :, :1].transpose(1, 0, 2)
    for name, dim, width, strings in (
        ("image_id", "presentation", "string8", [stim_id(s) for s, _ in pres]),
        ("object_name", "presentation", "string5", [OBJECTS[s % 3] for s, _ in pres]),
        ("region", "neuroid", "string5", REGIONS),
    ):
        n = len(ds.dimensions[width])
        v = ds.createVariable(name, "S1", (dim, width))
        v[:] = netCDF4.stringtochar(np.array(strings, dtype="S%d" % n))
    v = ds.createVariable("repetition", "i4", ("presentation",))
    v[:] = np.array([r for _, r in pres], dtype=np.int32)
    ds.close()


def expected(pres, values, keep, time_bins):
    """Responses and trials of the kept neuroids, stimuli in order of first appearance."""
    order = []
    for s, _ in pres:
        if s not in order:
            order.append(s)
    trials = np.full((N_STIM, N_REP, len(keep)), np.nan)
    for p, (s, r) in enumerate(pres):
        trials[order.index(s), r] = values[p][keep][:, :time_bins].astype(np.float64).mean(axis=1)
    return np.nanmean(trials, axis=1), trials


def npy_bytes(a):
    import io

    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def write_corpora(corpus, fixtures):
    simple = os.path.join(corpus, "neural_simple")
    os.makedirs(simple, exist_ok=True)
    seeds = {
        "csv_2d_f8": (b"stimulus_id,object_name,filename\na,car,a.png\nb,bear,b.png\nc,car,c.png\n",
                      npy_bytes(np.arange(6, dtype=np.float64).reshape(3, 2))),
        "text_3d_f4": (b"s1\r\ns2\n", npy_bytes(np.array([[[1, 2], [np.nan, 4]], [[5, 6], [7, 8]]], np.float32))),
        "quoted_csv": (b'image_id,label,x\n"a,1","the ""b""",\n"c",d,e\n', npy_bytes(np.ones((2, 1), np.float32))),
        "bad_rows": (b"stimulus_id\na\n", npy_bytes(np.ones((2, 1), np.float64))),
    }
    for name, (table, npy) in seeds.items():
        with open(os.path.join(simple, name), "wb") as f:
            f.write(len(table).to_bytes(2, "little") + table + npy)
    netcdf = os.path.join(corpus, "neural_netcdf")
    os.makedirs(netcdf, exist_ok=True)
    # Classic files only: the target skips netCDF-4 (HDF5) inputs (see tests/fuzz/fuzz_neural_netcdf.c).
    for name, region, src in (("classic_it", 0, "assembly_classic.nc"), ("classic_all", 1, "assembly_classic.nc"),
                              ("truncated", 0, "bad_truncated.nc")):
        with open(os.path.join(fixtures, src), "rb") as f:
            body = f.read()
        with open(os.path.join(netcdf, name), "wb") as f:
            f.write(bytes([region]) + body)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/neural"
    corpus = sys.argv[2] if len(sys.argv) > 2 else "tests/fuzz/corpus"
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    pres, values = make_data(rng)
    it = [j for j, r in enumerate(REGIONS) if r == "IT"]
    write_nc4(os.path.join(out, "assembly.nc"), pres, values)
    resp, trials = expected(pres, values, it, N_TIME)
    np.save(os.path.join(out, "expected_it.npy"), resp)
    np.save(os.path.join(out, "expected_trials.npy"), trials)
    write_classic(os.path.join(out, "assembly_classic.nc"), pres, values)
    resp_all, _ = expected(pres, values, list(range(len(REGIONS))), 1)
    np.save(os.path.join(out, "expected_classic.npy"), resp_all)
    write_nc4(os.path.join(out, "bad_no_stimulus_id.nc"), pres, values, drop="stimulus_id")
    write_nc4(os.path.join(out, "bad_no_region.nc"), pres, values, drop="region")
    write_nc4(os.path.join(out, "bad_extra_dim.nc"), pres, values, extra_dim=True)
    write_nc4(os.path.join(out, "bad_duplicate_trial.nc"), pres, values, dup=True)
    with open(os.path.join(out, "assembly_classic.nc"), "rb") as f:
        classic = f.read()
    with open(os.path.join(out, "bad_truncated.nc"), "wb") as f:
        f.write(classic[: len(classic) // 2])
    with open(os.path.join(out, "assembly.nc"), "rb") as f:
        nc4 = f.read()
    with open(os.path.join(out, "bad_truncated_nc4.nc"), "wb") as f:
        f.write(nc4[: len(nc4) * 3 // 4])
    write_corpora(corpus, out)
    print("wrote", out, "and the neural fuzz corpora in", corpus)


if __name__ == "__main__":
    main()
