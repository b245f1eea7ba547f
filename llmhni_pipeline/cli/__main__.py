import sys

from llmhni_pipeline.cli.app import main

sys.exit(main())
