from diarize.cli.main import main

main()
