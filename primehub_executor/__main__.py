from .run import exit_now, main

exit_now(main())
