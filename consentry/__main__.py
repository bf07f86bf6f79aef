"""`python -m consentry …`: the same as the `consentry` console script."""

import sys

from consentry.cli import main

sys.exit(main())
