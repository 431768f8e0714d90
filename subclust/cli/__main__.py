import sys

from subclust.cli.main import main

sys.exit(main())
