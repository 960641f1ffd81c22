from cobflow.cli import main

raise SystemExit(main())
