"""TFDS dataset builders (array_record shards, no TensorFlow needed).

- `face_images.FaceImages` (`face_images`): aligned crops of real photos.
- `hiface_synthetic.HifaceSynthetic` (`hiface_synthetic/<config>`): synthetic faces with ground truth.

Import the module of the builder you build; each registers its builder with TFDS on
import, and the synthetic one pulls in the generator (face model, renderer), which
the real-photo one does not need. Reading a prepared dataset needs neither:
`hiface_jax.data.data_loader.open_source` takes the features from the dataset's files.
Build both from the command line with `python -m launch.make_dataset`.
"""
