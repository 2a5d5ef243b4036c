# Seed files for the fuzzers: small npz and HDF5 files in Chainer's layout, in the variants
# the readers handle (stored, deflated, Fortran order, big-endian, None, scalars, text).
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
