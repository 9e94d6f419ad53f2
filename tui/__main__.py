from conda_package.tui.app import main

raise SystemExit(main())
