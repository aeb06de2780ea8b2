import sys

from recengine.cli import main

sys.exit(main())
