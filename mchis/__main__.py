from mchis.cli import main

main()
