"""Loaders: every source of Spack build data, one module per source.

- :mod:`.savelocal`: ``--monitor-save-local`` directories -> run records
- :mod:`.installs`: install trees, install prefixes and stage directories -> records
- :mod:`.server`: the data API's rows (``MonitorData.from_client``) -> frames
- :mod:`.database`: a monitor server's database read directly (``MonitorData.from_database``)
- :mod:`.junit` / :mod:`.cdash`: ``spack install --log-format junit|cdash`` reports -> records
  (safe XML: :mod:`.xmlreport`); :mod:`.reports`: those records -> frames, and the packages a
  report leaves out, found through a DAG
- :mod:`.detect`: :func:`load`, which finds the sources in a folder and merges a build seen
  twice
"""
