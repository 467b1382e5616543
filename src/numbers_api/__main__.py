from numbers_api.cli import main

raise SystemExit(main())
