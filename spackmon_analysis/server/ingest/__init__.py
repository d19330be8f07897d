"""What the ms1 write endpoints do to the database, one module per part of the write side.

Each endpoint function takes an open SQLAlchemy ``Connection`` inside the request's single
transaction and either returns the response ``data`` or raises
:class:`~spackmon_analysis.server.validate.RequestError` (status + message); the app rolls the
transaction back on any error, so a rejected request changes nothing.

* :mod:`.specdocs`: ``specs/new`` (``new_spec``) and ``import_graph``, a spec document's nodes
  and edges -> spec rows (also for the document a ``builds/new`` carries);
* :mod:`.buildwrites`: ``builds/new`` (``new_build``) and ``builds/update`` (``update_build``);
* :mod:`.phases`: ``builds/phases/update`` (``update_phase``) and a phase's event rows;
* :mod:`.analyze`: ``analyze/builds`` (``analyze_build``);
* :mod:`.attempts`: which attempt of a build a write belongs to, the one place of that rule
  (docs/server.md, "Attempts"): the build, phase and status writes above call it;
* :mod:`.fields`: what they share: the body's ``build_id``, the build row a write names (locked)
  and the integer ranges the database stores.

Each module builds the statements of its hot path once, beside the functions that run them.
Callers import the module they need (``server/routes/protocol.py`` maps each write to its
function); this package re-exports nothing.
"""
