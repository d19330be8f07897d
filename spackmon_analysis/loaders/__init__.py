"""Loaders: every source of Spack build data, one module per source.

- :mod:`.savelocal`: ``--monitor-save-local`` directories -> run records
- :mod:`.installs`: install trees, install prefixes and stage directories -> records
- :mod:`.server`: the data API's rows (``MonitorData.from_client``) -> frames
- :mod:`.database`: a monitor server's database read directly (``MonitorData.from_database``)
- :mod:`.detect`: :func:`load`, which finds the sources in a folder and merges a build seen
  twice
"""
