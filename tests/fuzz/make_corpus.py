# Seed files for the fuzzers: small npz and HDF5 files in Chainer's layout, in the variants
# the readers handle (stored, deflated, Fortran order, big-endian, None, scalars, text), and
# compressed parameters (pruned: bitmap and kept values; int8 with scales; binary signs;
# a k-means codebook with 4-bit indices; float16 storage) for the fuzzers' MLP(4, 2).
import sys, io, zipfile, numpy as np, h5py
out = sys.argv[1]
a = {'predictor/l1/W': np.arange(12, dtype=np.float32).reshape(3, 4),
     'predictor/l1/b': np.array(None, dtype=object),
     'predictor/l2/W': np.asfortranarray(np.eye(3, dtype=np.float64)),
     'predictor/l2/b': np.ones(3, '>f4'),
     'predictor/l3/W': np.zeros((2, 3), np.float16),
     'predictor/l3/b': np.zeros(2, np.int64),
     't': np.int64(3), 'flag': np.bool_(True)}
np.savez(out + '/plain.npz', **a)
np.savez_compressed(out + '/packed.npz', **a)
arch = b'{"type": "classifier", "attributes": {"compute_accuracy": 1}, "parts": [{"type": "mlp", "attributes": {"n_out": 2, "n_units": 3}}]}'
np.savez(out + '/model.npz', **{'_catena_model/architecture': np.frombuffer(arch, np.uint8),
                                 '_catena_model/version': np.int64(1), 'predictor/l1/W': a['predictor/l1/W']})
with h5py.File(out + '/plain.h5', 'w') as f:
    f['predictor/l1/W'] = a['predictor/l1/W']
    f['predictor/l1/b'] = h5py.Empty('f')
    f.create_dataset('predictor/l2/W', data=np.eye(3), compression='gzip', compression_opts=4)
    f['predictor/l2/b'] = np.ones(3, np.float16)
    f['flag'] = True
    f['t'] = np.int64(3)

# Compressed parameters, shaped for the harness's model (l1: lazy to 4, l2: 4 x 4, l3: 2 x 4).
keep = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 1, 0, 1], np.uint8)
c = {'predictor/l1/W.shape': np.array([4, 3], np.int64),
     'predictor/l1/W.mask': np.packbits(keep[:12], bitorder='little'),
     'predictor/l1/W.values': np.arange(int(keep[:12].sum()), dtype=np.float32),
     'predictor/l2/W.int8': np.arange(-8, 8, dtype=np.int8).reshape(4, 4),
     'predictor/l2/W.scale': np.full(4, 0.01, np.float32),
     'predictor/l2/W.input_scale': np.float32(0.05),
     'predictor/l3/W.shape': np.array([2, 4], np.int64),
     'predictor/l3/W.codebook': np.linspace(-1, 1, 16, dtype=np.float32),
     'predictor/l3/W.indices': np.array([0x10, 0x32, 0x54, 0x76], np.uint8),
     'predictor/l3/b': np.zeros(2, np.float16)}
np.savez(out + '/compressed.npz', **c)
s = {'predictor/l2/W.shape': np.array([4, 4], np.int64),
     'predictor/l2/W.sign': np.packbits(keep, bitorder='little'),
     'predictor/l2/W.scale': np.full(4, 0.5, np.float32)}
np.savez(out + '/binary.npz', **s)
with h5py.File(out + '/compressed.h5', 'w') as f:
    for k, v in c.items():
        f[k] = v
