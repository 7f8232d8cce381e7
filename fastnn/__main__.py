import sys

from fastnn.cli import main

sys.exit(main())
