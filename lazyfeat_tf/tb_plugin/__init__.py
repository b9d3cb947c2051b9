"""TensorBoard "Kernel drift" tab for lazyfeat_tf runs.

- `lazyfeat_tf.tb_plugin.summary`: writer API called by the training loop
  (`write_run_metadata`, `write_drift_record`; imports TensorFlow only when writing through it).
- `lazyfeat_tf.tb_plugin.metadata`: tag names and the encodings (plugin content, `RunMetadata`)
  shared by writer and reader.
- `lazyfeat_tf.tb_plugin.plugin`: `KernelDriftPlugin`, registered through the `tensorboard_plugins`
  entry point of setup.cfg; after `pip install lazyfeat_tf`, `tensorboard --logdir RUNS` shows the
  tab. Start TensorBoard with `--samples_per_plugin=kernel_drift=0` to keep every checkpoint's
  eigenvalues and heatmap (by default TensorBoard keeps only a sample of them). It reads through
  `provider_reader`, builds its answers with `response_bodies` and `http_io`, and serves the
  frontend (ES modules, `static/index.js` first).

This package module imports nothing heavy: TensorBoard imports the plugin at start-up.
"""

from lazyfeat_tf.tb_plugin.metadata import PLUGIN_NAME  # noqa: F401
