"""WebMagic's core: entities, the site lifecycle, ports and use cases.

Pure Python: imports only the standard library and ``attrs``. Other programs may
import it as a library; adapters implement its ports.
"""
