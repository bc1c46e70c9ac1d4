"""course_lib: small, working implementations behind the course's notebooks.

One module per idea of the course (see DESIGN.md for the map). The core modules
use the standard library first, so they run anywhere a notebook runs; widgets
and plots live in ``course_lib.viz`` on top of them.
"""

__version__ = "0.1.0"
