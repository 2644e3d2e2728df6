import sys

from sendlens.cli import main

sys.exit(main())
