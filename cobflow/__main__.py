from cobflow.app.cli import main

raise SystemExit(main())
