from tui_llm.cli import main

raise SystemExit(main())
