from mailcfg.cli import main

main()
