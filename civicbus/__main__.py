from civicbus.cli import main

main()
