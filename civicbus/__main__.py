from civicbus.cli import main

if __name__ == "__main__":  # run, never on import
    main()
