"""Loaders: every source of Spack build data, one module per source.

Each loader turns its input into the shared records (:mod:`~spackmon_analysis.records`) and
those into a :class:`~.assemble.FrameSet` (the five frames with the contract's columns,
plus source, ``problems`` and ``notes``). No loader imports ``frames``, the analysis or the
views; :class:`~spackmon_analysis.frames.MonitorData` calls them and wraps what they return.

- :mod:`.assemble`: what they share (``FrameSet``, ``Assembler``, ``concat_frames``)
- :mod:`.savelocal`: ``--monitor-save-local`` directories -> run records -> frames
- :mod:`.installs`: install trees, install prefixes and stage directories -> records -> frames
- :mod:`.server`: server rows -> frames, one way (``ServerColumns``): the data API's rows
  (``MonitorData.from_client``) and :mod:`.database`'s pages
- :mod:`.database`: a monitor server's database read directly (``MonitorData.from_database``);
  the only loader that imports the server
- :mod:`.junit` / :mod:`.cdash`: ``spack install --log-format junit|cdash`` reports -> records
  (safe XML: :mod:`.xmlreport`); :mod:`.reports`: those records -> frames, and the packages a
  report leaves out, found through a DAG
- :mod:`.database_index`: an install tree's ``.spack-db`` (index.json, failures/) -> DAG and builds
- :mod:`.environment`: a ``spack.lock`` or environment directory -> its DAG and roots (a DAG
  source for reports)
- :mod:`.detect`: :func:`~.detect.load`, which finds every registered source (``SOURCES``) in a
  folder and merges a build seen twice; a new source is a module here plus a ``Source`` there
"""
