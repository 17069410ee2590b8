from streamrouter.cli import main

main()
